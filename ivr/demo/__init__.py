"""Demo tools: SIPp callers and phones for trying the system by hand."""
