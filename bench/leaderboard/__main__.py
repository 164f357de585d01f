from bench.leaderboard import main

main()
