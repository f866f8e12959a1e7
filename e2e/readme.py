"""The code blocks of README.rst, so the tests run the examples exactly as printed."""
import os
import textwrap

#: What marks the t-test example that uses a client (the example without a client has one too).
TTEST = 'client.init("test", "scipy.stats:ttest_ind"'

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.rst")


def code_blocks(language):
    """Every ``.. code-block:: language`` body in README.rst, dedented, in order."""
    blocks = []
    lines = open(README, encoding="utf-8").read().splitlines()
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


def example(language, containing):
    """The one README code block in *language* that contains *containing*."""
    found = [block for block in code_blocks(language) if containing in block]
    assert len(found) == 1, "README.rst should have one {} block with {!r}, not {}".format(
        language, containing, len(found))
    return found[0]
