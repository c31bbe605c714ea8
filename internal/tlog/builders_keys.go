package tlog

import (
	"strconv"
	"strings"
	"time"
)

// Typed entry builders of the key and exit operations (rotate, shred,
// disclose, exit): the service layer records each through its builder,
// whoever starts the operation.

// KeyRotate is the entry of a committed root-key rotation.
func KeyRotate(newEpoch uint32, datasets, retired int) Entry {
	return Entry{Kind: KindKeyRotate, Object: strconv.FormatUint(uint64(newEpoch), 10), Details: map[string]string{
		"datasets": strconv.Itoa(datasets), "retired_objects": strconv.Itoa(retired)}}
}

// ShredFacts describe a finished crypto-shred.
type ShredFacts struct {
	DatasetID   string // the dataset's id (entries never carry its name)
	KeysDeleted int
	Objects     int
	NewEpoch    uint32
	For         string // "" for 'key shred', "exit" when an exit shredded it
}

// KeyShred is the entry of a crypto-shredded dataset.
func KeyShred(f ShredFacts) Entry {
	d := map[string]string{"wrapped_keys_deleted": strconv.Itoa(f.KeysDeleted), "objects_deleted": strconv.Itoa(f.Objects),
		"new_epoch": strconv.FormatUint(uint64(f.NewEpoch), 10)}
	if f.For != "" {
		d["for"] = f.For
	}
	return Entry{Kind: KindKeyShred, Dataset: f.DatasetID, Details: d}
}

// DisclosureFacts describe an access by host personnel, as disclosed.
type DisclosureFacts struct {
	Site   string
	Who    string // recorded as the entry's actor: the person who accessed
	What   string
	Reason string // a reason code (ReasonCodes)
	Access string // an access type (AccessTypes)
	At     time.Time
	Ticket string
}

// DisclosureEntry is the entry of a disclosed access. Its actor is who
// accessed, not the home.
func DisclosureEntry(f DisclosureFacts) Entry {
	d := map[string]string{DetailAccess: f.Access, DetailAt: f.At.UTC().Format(time.RFC3339Nano)}
	if f.Ticket != "" {
		d[DetailTicket] = f.Ticket
	}
	return Entry{Kind: KindDisclosure, Site: f.Site, Actor: f.Who, Object: f.What, Reason: strings.ToUpper(f.Reason), Details: d}
}

// Exit phases recorded in an exit entry's "phase" detail.
const (
	ExitPhaseStart  = "start"  // the exit began (notice given): the agreement's exit.export-days count from here
	ExitPhaseDone   = "done"   // exported, restore-proven, deleted (or kept) and certified
	ExitPhaseCancel = "cancel" // the sending state withdrew the exit; the site stays
)

// ExitFacts describe an exit from a host site.
type ExitFacts struct {
	Site     string
	Phase    string // ExitPhaseStart, ExitPhaseDone or ExitPhaseCancel
	Manifest string // digest of the signed archive manifest (done)
	Objects  int
	Bytes    int64
	Deleted  int
	KeptData bool
	Signer   string   // who signed the deletion certificate ("site", "home", "")
	Shredded []string // ids of the datasets crypto-shredded for the exit
	Deadline time.Time
}

// Exit is the entry of an exit phase.
func Exit(f ExitFacts) Entry {
	d := map[string]string{"phase": f.Phase}
	if !f.Deadline.IsZero() {
		d["deadline"] = f.Deadline.UTC().Format(time.RFC3339)
	}
	if f.Phase == ExitPhaseDone {
		d["objects"] = strconv.Itoa(f.Objects)
		d["bytes"] = strconv.FormatInt(f.Bytes, 10)
		d["deleted"] = strconv.Itoa(f.Deleted)
		d["kept_data"] = strconv.FormatBool(f.KeptData)
		d["certificate_signer"] = f.Signer
		d["shredded"] = strings.Join(f.Shredded, ",")
	}
	return Entry{Kind: KindExit, Site: f.Site, Object: f.Manifest, Details: d}
}
