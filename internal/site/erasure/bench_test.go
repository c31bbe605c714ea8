package erasure

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// BenchmarkRead reads a 256 MiB object from a 3+2 group with every member
// up and with one data member down:
//
//	go test -run XXX -bench Read -benchtime 3x ./internal/site/erasure/
func BenchmarkRead(b *testing.B) {
	const size = 256 << 20
	for _, kind := range []string{"mem", "fs"} {
		for _, down := range []bool{false, true} {
			name := fmt.Sprintf("%s/healthy", kind)
			if down {
				name = fmt.Sprintf("%s/one-down", kind)
			}
			b.Run(name, func(b *testing.B) {
				faulty := make([]*sitetest.Faulty, 5)
				members := make([]site.Backend, 5)
				for i := range members {
					var m site.Backend = mem.New(site.Properties{})
					if kind == "fs" {
						var err error
						m, err = fs.New(b.Context(), fs.Config{Path: filepath.Join(b.TempDir(), "m"), Create: true})
						if err != nil {
							b.Fatal(err)
						}
					}
					faulty[i] = sitetest.NewFaulty(m)
					members[i] = faulty[i]
				}
				g, err := New(members, 3, 2, site.Properties{})
				if err != nil {
					b.Fatal(err)
				}
				h := site.Handle{Kind: site.KindPack, Name: "bench"}
				if err := g.Put(b.Context(), h, sitetest.Gen{Seed: 1, N: size}, site.PutOptions{IfAbsent: true}); err != nil {
					b.Fatal(err)
				}
				if down {
					faulty[1].Inject(sitetest.Fault{})
				}
				b.SetBytes(size)
				for b.Loop() {
					err := g.Get(b.Context(), h, 0, 0, func(r io.Reader) error {
						n, err := io.Copy(io.Discard, r)
						if err == nil && n != size {
							err = fmt.Errorf("read %d bytes", n)
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
