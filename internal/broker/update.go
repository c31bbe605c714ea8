package broker

import "context"

// UpdateGate is the sending state's update control (framework requirement
// 16, internal/supply): it refuses a release when the dataset's class
// requires update control and no update approval in force covers the
// measurements the broker verified (TPM PCRs of the image and firmware,
// an SEV-SNP or TDX launch measurement). The refusal code is "update".
type UpdateGate interface {
	AllowMeasurements(ctx context.Context, dataset, class string, measurements map[string]string) error
}

// UpdateGateFunc adapts a function to UpdateGate.
type UpdateGateFunc func(ctx context.Context, dataset, class string, measurements map[string]string) error

// AllowMeasurements implements UpdateGate.
func (f UpdateGateFunc) AllowMeasurements(ctx context.Context, dataset, class string, m map[string]string) error {
	return f(ctx, dataset, class, m)
}
