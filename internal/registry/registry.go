// Package registry serves read-only record lookups from restored register
// files: the population register by personal ID and the land register by
// cadastral parcel (the CSV layout of internal/sample).
//
// A Table indexes a CSV file by its first column without loading the rows:
// the index is a sorted slice of (key, offset) pairs, 16 bytes a row, and a
// lookup reads one line with ReadAt. A 1 GiB register indexes in seconds.
package registry

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound means no record has the key.
var ErrNotFound = errors.New("no such record")

type entry struct {
	key uint64
	off int64
}

// Table is an indexed, read-only CSV file.
type Table struct {
	f      *os.File
	header []string
	idx    []entry
	keyOf  func(string) (uint64, bool)
}

// PersonalKey parses an 11-digit personal ID.
func PersonalKey(s string) (uint64, bool) {
	if len(s) != 11 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// ParcelKey parses a cadastral ID "UUUUU:SSS:PPPP".
func ParcelKey(s string) (uint64, bool) {
	p := strings.Split(s, ":")
	if len(p) != 3 || len(p[0]) != 5 || len(p[1]) != 3 || len(p[2]) != 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(p[0]+p[1]+p[2], 10, 64)
	return v, err == nil
}

// Open indexes the CSV file at path by its first column, parsed by keyOf.
// Rows whose key does not parse are skipped; duplicate keys keep the first.
func Open(path string, keyOf func(string) (uint64, bool)) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t := &Table{f: f, keyOf: keyOf}
	if err := t.index(); err != nil {
		f.Close()
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	return t, nil
}

func (t *Table) index() error {
	st, err := t.f.Stat()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(io.NewSectionReader(t.f, 0, st.Size()), 1<<20)
	t.idx = make([]entry, 0, st.Size()/100)
	var off int64
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return errors.New("line longer than 1 MiB")
		}
		if len(line) > 0 {
			if first {
				h, perr := csv.NewReader(bytes.NewReader(line)).Read()
				if perr != nil {
					return fmt.Errorf("header: %w", perr)
				}
				t.header, first = h, false
			} else if i := bytes.IndexByte(line, ','); i > 0 {
				if k, ok := t.keyOf(string(line[:i])); ok {
					t.idx = append(t.idx, entry{k, off})
				}
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	slices.SortStableFunc(t.idx, func(a, b entry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	t.idx = slices.CompactFunc(t.idx, func(a, b entry) bool { return a.key == b.key })
	return nil
}

// Len is the number of indexed rows.
func (t *Table) Len() int { return len(t.idx) }

// Lookup returns the record with key as column name -> value.
func (t *Table) Lookup(key string) (map[string]string, error) {
	k, ok := t.keyOf(key)
	if !ok {
		return nil, ErrNotFound
	}
	i, found := slices.BinarySearchFunc(t.idx, k, func(e entry, k uint64) int {
		switch {
		case e.key < k:
			return -1
		case e.key > k:
			return 1
		}
		return 0
	})
	if !found {
		return nil, ErrNotFound
	}
	r := bufio.NewReader(io.NewSectionReader(t.f, t.idx[i].off, 1<<20))
	line, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return nil, err
	}
	rec, err := csv.NewReader(strings.NewReader(line)).Read()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	out := make(map[string]string, len(rec))
	for j, v := range rec {
		if j < len(t.header) {
			out[t.header[j]] = v
		}
	}
	return out, nil
}

// Close closes the file.
func (t *Table) Close() error { return t.f.Close() }
