package mem_test

import (
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

func TestConformance(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		return mem.New(site.Properties{Name: "test", Jurisdiction: "CH"})
	})
}
