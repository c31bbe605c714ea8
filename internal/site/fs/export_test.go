package fs

// Hint exposes hint to tests.
var Hint = hint
