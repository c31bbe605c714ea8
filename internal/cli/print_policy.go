package cli

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
