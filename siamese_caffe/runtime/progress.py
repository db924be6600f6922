"""The one maker of progress bars (tqdm), safe against Ctrl-C and SIGTERM.

The command line turns SIGTERM into KeyboardInterrupt (interrupts.py). One that
lands inside tqdm's constructor leaves a half-built bar whose destructor then
prints an "Exception ignored" traceback under the one-line "interrupted"
message; so the bar is built with both signals held, and a signal that arrived
meanwhile acts as soon as the bar exists (where `with` closes it).
"""

from . import interrupts


def bar(iterable=None, **options):
    """tqdm(iterable, **options), built with SIGINT and SIGTERM held."""
    from tqdm import tqdm

    with interrupts.held():
        return tqdm(iterable, **options)
