"""The code blocks of README.rst, so the tests run the examples exactly as printed."""
import os
import re
import textwrap

#: What marks the t-test example that uses a client (the example without a client has one too).
TTEST = 'client.init("test", "scipy.stats:ttest_ind"'

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.rst")


def languages():
    """The languages of README.rst's code blocks."""
    with open(README, encoding="utf-8") as readme:
        return sorted(set(re.findall(r"^\.\. code-block:: (\w+)$", readme.read(), re.M)))


def code_blocks(language):
    """Every ``.. code-block:: language`` body in README.rst, dedented, in order."""
    blocks = []
    with open(README, encoding="utf-8") as readme:
        lines = readme.read().splitlines()
    for index, line in enumerate(lines):
        if line.strip() != ".. code-block:: " + language:
            continue
        body = []
        for following in lines[index + 1:]:
            if following.strip() and not following.startswith(" "):
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


def markers_of_tests():
    """What each ``example(language, containing)`` call of the e2e tests and fixtures looks for, by language."""
    folder = os.path.dirname(os.path.abspath(__file__))
    calls = re.compile(r"""example\(\s*"(\w+)",\s*(?:'([^']*)'|"([^"]*)"|(TTEST))""")
    markers = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py") and name != "readme.py":
            with open(os.path.join(folder, name), encoding="utf-8") as source:
                for language, single, double, ttest in calls.findall(source.read()):
                    markers.setdefault(language, set()).add(TTEST if ttest else single or double)
    return markers


def example(language, containing):
    """The one README code block in *language* that contains *containing*."""
    found = [block for block in code_blocks(language) if containing in block]
    assert len(found) == 1, "README.rst should have one {} block with {!r}, not {}".format(
        language, containing, len(found))
    return found[0]
