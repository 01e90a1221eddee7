"""Tests of the local network peers (real sockets on loopback)."""
