package strict

import (
	"errors"
	"testing"
)

func TestJSON(t *testing.T) {
	var v struct{ A int }
	if err := JSON([]byte(`{"A":1}`), &v); err != nil || v.A != 1 {
		t.Fatalf("%v %+v", err, v)
	}
	if err := JSON([]byte(`{"A":1,"B":2}`), &v); err == nil {
		t.Fatal("unknown field accepted")
	}
	if err := JSON([]byte(`{"A":1} {"A":2}`), &v); !errors.Is(err, ErrTrailing) {
		t.Fatalf("trailing value: %v", err)
	}
	if err := JSON([]byte(`{"A":`), &v); err == nil {
		t.Fatal("truncated accepted")
	}
}
