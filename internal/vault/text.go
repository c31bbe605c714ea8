package vault

import "strings"

// clip bounds a host-written string kept in a log entry or an alert: at
// most n bytes, valid UTF-8, control characters as spaces (a host must not
// forge lines or terminal escapes in what the home shows its operators).
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s), "?")
}
