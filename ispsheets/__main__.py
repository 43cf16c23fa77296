from ispsheets.cli import main

main()
