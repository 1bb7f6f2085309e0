"""Instructor tooling for running the course for a class: ``genlearn-course``.

Everything here drives nbgrader through its own configuration (the course folder's
``nbgrader_config.py``), so what that file sets up for grading applies unchanged.

    create     course folder, exchange, roster, due dates and late penalty (``genlearn-course setup``)
    roster     read and check a roster CSV (id,first_name,last_name,email); load it into the gradebook
    accounts   Unix accounts and groups for a roster on a one-machine JupyterHub
    late       the late-submission penalty plugin nbgrader calls while autograding
    parallel   autograde a class with N workers, safely for the gradebook
    lms        grades out to Canvas and Moodle; file names of their submission archives
    exchange   nbgrader's exchange made attributable and private (who, when, what: regular files only)
    snapshot   reading a folder a student controls: no links followed, bounded, the kernel's time
    sanitize   students' HTML made safe for formgrader and feedback (an HTMLExporter preprocessor)
    cli        the ``genlearn-course`` command

It needs the ``course`` extra (nbgrader). Nothing in the rest of genlearn imports it.
"""
