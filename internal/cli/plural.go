package cli

import (
	"strconv"
	"strings"
)

// plural counts n of noun for output: "1 custodian", "2 custodians",
// "1 breach", "0 breaches".
func plural(n int, noun string) string {
	s := strconv.Itoa(n) + " " + noun
	switch {
	case n == 1:
		return s
	case strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"), strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"):
		return s + "es"
	}
	return s + "s"
}

// article is word with "a" or "an" before it ("an unapproved", "a revoked").
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}
