from flashtts.cli.main import main

main()
