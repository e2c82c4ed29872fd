package events

// The relay's statements, for tests of their plans.
const (
	TakeRowsSQL  = takeRowsSQL
	NoSeqScanSQL = noSeqScanSQL
)

// IsPermanent reports whether err is marked Permanent (the event is dead-lettered at once).
var IsPermanent = isPermanent

// Counts reports whether err counts against MaxAttempts (it is not marked Transient).
var Counts = counts
