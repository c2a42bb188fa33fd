"""Satisfaction surveys (issue 6).  This package holds the pure reply classifier
(``classify``); the survey data model, scheduling and channels live next to it."""
