from selfheal.testing.protocol_servers import main

main()
