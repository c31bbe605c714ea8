package server

import "testing"

func TestUnauthRefusedCountsGrowth(t *testing.T) {
	evs := []Event{
		{Kind: "denied", Remote: "10.0.0.1", Count: 1},
		{Kind: "denied", Remote: "10.0.0.2", Count: 1},
		{Kind: "denied", Remote: "10.0.0.1", Count: 2},
		{Kind: "login", Identity: "spiffe://h/role/home/home"},
		{Kind: "denied", Remote: "10.0.0.1", Count: 4},
		{Kind: "denied", Identity: "spiffe://h/role/operator/ops", Remote: "10.0.0.3"}, // counted elsewhere
		{Kind: "denied", Remote: "10.0.0.1", Count: 1},                                 // a new window
		{Kind: "denied", Remote: "10.0.0.1", Count: 2},
	}
	if got, want := unauthRefused(evs), 4+1+2; got != want {
		t.Fatalf("unauthRefused = %d, want %d", got, want)
	}
}
