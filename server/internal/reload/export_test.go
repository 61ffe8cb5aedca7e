package reload

// Watched reports whether a watch of l runs.
func (l *Loader) Watched() bool { return l.watching.Load() > 0 }
