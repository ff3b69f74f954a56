"""Persistence: where flow and atom details are kept between runs."""
