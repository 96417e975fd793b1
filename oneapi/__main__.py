from oneapi.cli import main

main()
