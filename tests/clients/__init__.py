"""Third-party-style publishing clients used by the tests (FFmpeg WHIP muxer via PyAV)."""
