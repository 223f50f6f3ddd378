from flashtts.cli import main

main()
