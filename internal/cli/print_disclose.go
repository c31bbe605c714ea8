package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/digital-embassy/embassy/internal/tlog"
)

func reasonHelp() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tlog.ReasonCodes)) {
		fmt.Fprintf(&b, "  %-32s %s\n", k, tlog.ReasonCodes[k])
	}
	return b.String()
}

func accessHelp() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tlog.AccessTypes)) {
		fmt.Fprintf(&b, "  %-14s %s\n", k, tlog.AccessTypes[k])
	}
	return b.String()
}
