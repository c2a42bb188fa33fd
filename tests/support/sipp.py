"""The SIPp peers live in ivr.demo.peers (the demo commands use them too)."""
from ivr.demo.peers import *  # noqa: F401,F403
from ivr.demo.peers import (DTMF_EVENTS, SippCaller, SippError, SippPhone, SippRegister,  # noqa: F401
                            dtmf_block, free_port, read_wav_ulaw, render, sip_quote, ulaw_encode,
                            wait_all, write_dtmf_pcap, write_rtp_pcap)
