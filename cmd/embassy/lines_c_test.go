package main

import "regexp"

// hexIDs matches the random ids in output (snapshot and dataset ids, digests:
// 16 or more hex digits), for maskIDs.
var hexIDs = regexp.MustCompile(`\b[0-9a-f]{16,}\b`)

// maskIDs is s masked as by masked with oldNew, then its remaining hex ids
// replaced by <id>: name an id the test must tell apart in oldNew.
func maskIDs(s string, oldNew ...string) string {
	return hexIDs.ReplaceAllString(masked(s, oldNew...), "<id>")
}

// maskedIDs is r with its output masked as by maskIDs.
func (r runResult) maskedIDs(oldNew ...string) runResult {
	return runResult{r.code, maskIDs(r.stdout, oldNew...), maskIDs(r.stderr, oldNew...)}
}

// must is v, the test's fixture set up right: err is nil.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// twoSitesList is 'site list' in a fixture home (sites a and b), masked
// (temp dir DIR): the URL column is as wide as the unmasked paths.
var twoSitesList = lines{
	rx(`NAME  JURISDICTION  OPERATOR  DISTANCE  URL +STATUS`),
	rx(`a     LU                      -         file://DIR/site-a +ok`),
	rx(`b     CH                      -         file://DIR/site-b +ok`),
}

// siteAlert is the exact slog WARN line a hostile or damaged site gives
// on stderr, masked (time): object and detail are regular expressions,
// for the ids in them.
func siteAlert(site, attack, object, detail string) rx {
	return rx(regexp.QuoteMeta(`time=YYYY-MM-DDThh:mm:ssZ level=WARN msg="hostile or damaged site" site=`+site+` attack=`+attack+` object=`) +
		object + regexp.QuoteMeta(` detail="`) + detail + `"`)
}

// snapshotJSON is '--json snapshots registry' in a fixture home with one
// snapshot of the source writeSource made at DIR/src, masked by maskIDs.
var snapshotJSON = lines{
	"[",
	"  {",
	`    "id": "<id>",`,
	`    "dataset": "registry",`,
	`    "time": "YYYY-MM-DDThh:mm:ssZ",`,
	rx(`    "host": "[^"]+",`),
	`    "class": "C1-I1-A1",`,
	`    "paths": [`,
	`      "DIR/src"`,
	"    ],",
	`    "files": 2,`,
	rx(`    "bytes": \d+,`),
	`    "key_epoch": 1,`,
	`    "key_version": 1`,
	"  }",
	"]",
}
