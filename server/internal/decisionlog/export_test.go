package decisionlog

// Written is the number of whole lines written so far; the tests wait on it
// to know the writer has settled.
func (l *Logger) Written() uint64 { return l.written.Load() }
