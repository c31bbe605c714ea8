package tlog

import (
	"strconv"
	"strings"
)

// Typed entry builders: every entry point that performs an operation
// records it through the builder of its kind, so the same operation leaves
// the same shape of entry whoever started it. Version, time, home and
// actor are filled in by the recorder.

// SnapshotFacts describe a committed snapshot.
type SnapshotFacts struct {
	DatasetID string   // the dataset's id (entries never carry its name)
	Snapshot  string   // snapshot id
	Class     string   // classification label it was placed under
	Sites     []string // sites that hold it
	Files     int64
	NewBlobs  int64
	By        string // entry point: "snapshot", "protect", ...
}

// Snapshot is the entry of a committed snapshot.
func Snapshot(f SnapshotFacts) Entry {
	d := map[string]string{"class": f.Class, "sites": strings.Join(f.Sites, ","),
		"files": strconv.FormatInt(f.Files, 10), "new_blobs": strconv.FormatInt(f.NewBlobs, 10)}
	if f.By != "" {
		d["by"] = f.By
	}
	return Entry{Kind: KindSnapshot, Dataset: f.DatasetID, Object: f.Snapshot, Details: d}
}

// RestoreFacts describe a finished restore.
type RestoreFacts struct {
	DatasetID string
	Snapshot  string
	Files     int64
	Sites     []string // sites it was allowed to read from
	By        string
}

// Restore is the entry of a finished restore.
func Restore(f RestoreFacts) Entry {
	d := map[string]string{"files": strconv.FormatInt(f.Files, 10)}
	if len(f.Sites) > 0 {
		d["sites"] = strings.Join(f.Sites, ",")
	}
	if f.By != "" {
		d["by"] = f.By
	}
	return Entry{Kind: KindRestore, Dataset: f.DatasetID, Object: f.Snapshot, Details: d}
}

// PolicyEventEntry is the entry of a policy denial or a policy or
// agreement change (kinds starting with "agreement-" are agreement
// changes).
func PolicyEventEntry(event, action, site, class, agreement, digest string, rules, reasons []string) Entry {
	kind := KindPolicyChange
	if strings.HasPrefix(event, "agreement-") {
		kind = KindAgreementChange
	}
	d := map[string]string{"event": event}
	for k, v := range map[string]string{"action": action, "class": class, "agreement": agreement, "digest": digest,
		"rules": strings.Join(rules, ","), "reasons": strings.Join(reasons, "; ")} {
		if v != "" {
			d[k] = v
		}
	}
	return Entry{Kind: kind, Site: site, Details: d}
}

// Verify is the entry of a finished verification.
func Verify(readData bool, damage int, sites []string) Entry {
	return Entry{Kind: KindVerify, Details: map[string]string{"read_data": strconv.FormatBool(readData),
		"damage": strconv.Itoa(damage), "sites": strings.Join(sites, ",")}}
}

// Forget is the entry of one removed snapshot manifest.
func Forget(datasetID, snapshot string) Entry {
	return Entry{Kind: KindForget, Dataset: datasetID, Object: snapshot}
}

// Prune is the entry of a finished prune of one dataset.
func Prune(datasetID string, packsDeleted, packsRepacked int, bytesFreed int64) Entry {
	return Entry{Kind: KindPrune, Dataset: datasetID, Details: map[string]string{"packs_deleted": strconv.Itoa(packsDeleted),
		"packs_repacked": strconv.Itoa(packsRepacked), "bytes_freed": strconv.FormatInt(bytesFreed, 10)}}
}

// Repair is the entry of one object copied to a site from another.
func Repair(site, object, from string) Entry {
	return Entry{Kind: KindRepair, Site: site, Object: object, Details: map[string]string{"from": from}}
}
