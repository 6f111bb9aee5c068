from hospital_sim.cli.app import main

main()
