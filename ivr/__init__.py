"""HappyCall IVR: the Asterisk ARI application, its flows, prompts and the managed Asterisk."""
