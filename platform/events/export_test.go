package events

// The relay's statements, for tests of their plans.
const (
	TakeRowsSQL  = takeRowsSQL
	NoSeqScanSQL = noSeqScanSQL
)
