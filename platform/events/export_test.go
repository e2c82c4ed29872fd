package events

import "errors"

// The relay's statements, for tests of their plans.
const (
	TakeRowsSQL  = takeRowsSQL
	NoSeqScanSQL = noSeqScanSQL
)

// IsPermanent reports whether err is marked Permanent (the event is dead-lettered at once).
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }
