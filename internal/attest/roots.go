package attest

func defaultRoots() *Roots { return &Roots{} }
