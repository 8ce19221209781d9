"""Packaging: the metadata lives in setup.cfg. This file only maps the repository's
``lessons/`` folder onto the package ``minigrad_lessons`` (a name no other project uses), so
that the lessons, their helpers, the student-copy tool and the grader install with minigrad."""
from setuptools import find_packages, setup

setup(
    packages=(find_packages(include=["minigrad", "minigrad.*"])
              + ["minigrad_lessons"]
              + ["minigrad_lessons." + p for p in find_packages("lessons")]),
    package_dir={"minigrad_lessons": "lessons"},
    entry_points={"console_scripts": [
        "minigrad-exercises = minigrad_lessons.exercises:main",
        "minigrad-grade = minigrad_lessons.grade:main",
    ]},
)
