"""Cohort selection: filters that live in the URL, and the queries and metrics they drive."""
