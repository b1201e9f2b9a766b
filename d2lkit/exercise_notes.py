"""What the answers to the books' exercises show: two or three sentences per answer, by ID.

Each note was written from the numbers of its run (the table above it in docs/exercises.md,
mean ± std over seeds 0, 1, 2); a rerun on a similar machine gives the same numbers within noise.
Where two editions ask the same question, the note sits under the first ID of the heading.
"""

NOTES: dict[str, str] = {
}
