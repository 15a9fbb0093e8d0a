"""Outage tests own the services they stop: a Redis or PostgreSQL of their own."""
