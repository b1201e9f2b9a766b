"""d2lkit: the kit's own machinery, beside the book's API in d2l.py.

d2l.py is the book's helper API (what the books' pages call as d2l.<name>). What the kit adds on
top of the books, the commands of `python -m d2l` (compare, sweep, exercises ...) and what they
share, lives here, one module per command. Nothing here runs at import.

    script          the chapter scripts' plumbing: flags, data splits, outputs, --load, run_script
    cli             `python -m d2l COMMAND`, where d2l.py's __main__ block hands over
    compare         python -m d2l compare: a chapter's scratch.py and concise.py side by side
    sweep           python -m d2l sweep: sweep_plan reads the line, sweep_runs runs it on its
                    study (claims, workers, results.csv), sweep_report writes the report
    exercises       python -m d2l exercises: the books' exercises and the commands answering them
    compare_models  python -m d2l compare-models: two saved classifiers on the same test images
"""
