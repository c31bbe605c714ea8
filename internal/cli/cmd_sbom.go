package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdSBOM is 'embassy sbom': a software bill of materials for one of our
// binaries, from the build information the Go linker embedded in it.
func cmdSBOM(e *env) *cobra.Command {
	var binary, format, out, name string
	c := &cobra.Command{
		Use:   "sbom [--binary PATH] [--format cyclonedx|spdx] [-o FILE]",
		Short: "Write the SBOM of an embassy binary (CycloneDX 1.6 or SPDX 2.3 JSON)",
		Long: `sbom reads a Go binary (this one by default) and writes its software bill of
materials: the main module, every dependency with its version and go.sum hash,
the Go version, the build settings, and the SHA-256 of the binary's file.
CycloneDX 1.6 JSON by default, SPDX 2.3 JSON with --format spdx. The output is
the same for the same binary and time (EMBASSY_NOW pins the time).

Record it with an update approval: 'embassy update approve --artifact embassyd
--binary PATH --sbom FILE --until DATE' stores the SBOM's digest in the signed
approval and the transparency log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if binary == "" {
				p, err := os.Executable()
				if err != nil {
					return err
				}
				binary = p
			}
			b, bin, err := vault.BinarySBOM(binary, name, format, e.now())
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			e.printf("wrote %s: %s %s, %d modules, binary sha256 %s, sbom sha256 %s\n", out, bin.Name, bin.Info.Main.Version,
				len(bin.Info.Deps), bin.Digest, vault.SBOMDigest(b))
			return nil
		},
	}
	c.Flags().StringVar(&binary, "binary", "", "the Go binary to describe (default: this embassy binary)")
	c.Flags().StringVar(&format, "format", vault.SBOMCycloneDX, "cyclonedx (CycloneDX 1.6 JSON) or spdx (SPDX 2.3 JSON)")
	c.Flags().StringVarP(&out, "output", "o", "", "write the SBOM here (default stdout)")
	c.Flags().StringVar(&name, "name", "", fmt.Sprintf("artifact name in the SBOM (default: the file's name, e.g. %s)", "embassyd"))
	return c
}
