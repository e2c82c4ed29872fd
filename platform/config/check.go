package config

import (
	"fmt"
	"maps"
	"slices"
)

// number is what Positive and NotNegative compare with zero.
type number interface {
	~int | ~int32 | ~int64 | ~float64
}

// Positive refuses each value of values (variable name → value) that is 0 or less, one error per
// variable in name order ("FRIEND_REQUEST_WINDOW 0s: must be positive"): for a service's validate,
// which appends them to its own.
func Positive[T number](values map[string]T) []error {
	return refuse(values, func(v T) bool { return v <= 0 }, "must be positive")
}

// NotNegative refuses each value of values that is below 0, where 0 keeps a documented meaning
// ("OUTBOX_LINGER -1s: must not be negative").
func NotNegative[T number](values map[string]T) []error {
	return refuse(values, func(v T) bool { return v < 0 }, "must not be negative")
}

func refuse[T number](values map[string]T, bad func(T) bool, why string) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if v := values[name]; bad(v) {
			errs = append(errs, fmt.Errorf("%s %v: %s", name, v, why))
		}
	}
	return errs
}
