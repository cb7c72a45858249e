from ftapp.cli import run

run()
