// Package defaults fills in a constructor's options whose zero value means "the default". It is
// free of any infrastructure, so a domain package uses it as readily as the platform's own.
package defaults

// number is what Positive compares with zero.
type number interface {
	~int | ~int32 | ~int64 | ~float64
}

// Positive is v when it is above 0, else def: for an option whose zero value means "the default"
// and whose negative values mean nothing, so they get the default too
// (cfg.BatchSize = defaults.Positive(cfg.BatchSize, 32)). Where 0 or a negative value has a
// meaning of its own, compare in place; cmp.Or replaces 0 alone.
func Positive[T number](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
