package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Known-answer test of the log entry (leaf) format, version 1
// (docs/formats/tlog.md): fixed entries encode to exactly the golden
// leaves in testdata/kat-entries.jsonl (compact JSON, fields in the
// documented order, time in UTC with nanoseconds), each golden leaf decodes
// strictly back to its entry, and its RFC 6962 leaf hash
// SHA-256(0x00 || leaf) is pinned too. -update-entries rewrites the file.
var updateEntries = flag.Bool("update-entries", false, "rewrite testdata/kat-entries.jsonl")

func katEntries() []Entry {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CET", 3600))
	return []Entry{
		{V: 1, Kind: KindSnapshot, Time: at, Actor: "home", Home: "home-kat", Dataset: "00112233445566778899aabbccddeeff",
			Object: "ab12", Details: map[string]string{"class": "C2-I3-A3", "files": "42", "sites": "a,b"}},
		{V: 1, Kind: "key.rotate", Time: at.Add(time.Second), Actor: "home", Home: "home-kat", Object: "2"},
	}
}

func TestEntryKnownAnswer(t *testing.T) {
	var got bytes.Buffer
	for _, e := range katEntries() {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(append([]byte{0}, b...))
		got.Write(b)
		got.WriteString("\n")
		got.WriteString(hex.EncodeToString(h[:]))
		got.WriteString("\n")
	}
	p := filepath.Join("testdata", "kat-entries.jsonl")
	if *updateEntries {
		os.WriteFile(p, got.Bytes(), 0o644)
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (generate with go test -run TestEntryKnownAnswer -args -update-entries)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("log entries changed: the format is pinned\n got  %s\n want %s", got.Bytes(), want)
	}
	lines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	if len(lines) != 2*len(katEntries()) {
		t.Fatalf("golden file has %d lines", len(lines))
	}
	if !strings.HasPrefix(lines[0], `{"v":1,"kind":"snapshot","time":"2026-05-06T06:08:09.123456789Z","actor":"home","home":"home-kat",`) {
		t.Errorf("golden leaf does not follow the documented field order and UTC time: %s", lines[0])
	}
	for i, want := range katEntries() {
		e, err := UnmarshalEntry([]byte(lines[2*i]))
		if err != nil {
			t.Fatalf("golden leaf %d: %v", i, err)
		}
		if !e.Time.Equal(want.Time) || e.Kind != want.Kind || e.Object != want.Object || len(e.Details) != len(want.Details) {
			t.Errorf("golden leaf %d decodes to %+v", i, e)
		}
	}
	// Strict decoding: an unknown field or a newer version is refused.
	for _, bad := range []string{
		strings.Replace(lines[2], `"v":1,`, `"v":1,"extra":"x",`, 1),
		strings.Replace(lines[2], `"v":1,`, `"v":2,`, 1),
		lines[2] + " {}",
	} {
		if _, err := UnmarshalEntry([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	for bad, want := range map[string]string{
		lines[2] + "}":  "decode entry: trailing data",
		lines[2] + "]":  "decode entry: trailing data",
		lines[2] + " x": "decode entry: trailing data",
		strings.Replace(lines[2], `"v":1,`, `"v":1,"extra":"x",`, 1): `decode entry: json: unknown field "extra"`,
	} {
		if _, err := UnmarshalEntry([]byte(bad)); err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", bad, err, want)
		}
	}
}
