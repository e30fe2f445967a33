#!/usr/bin/env python3
# tests/integration/stall_proxy.py LISTEN_PORT UPSTREAM_PORT: a TCP proxy on
# 127.0.0.1 for the tests, between a controller and one etcd member.
# SIGUSR1 stalls what the clients send (held, not lost): every request,
# new or on an open connection, waits, while what comes back (answers
# under way, watch streams) still flows.  SIGUSR2 lets it through again.
import asyncio
import signal
import sys


async def main():
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    flowing = asyncio.Event()
    flowing.set()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, flowing.clear)
    loop.add_signal_handler(signal.SIGUSR2, flowing.set)

    async def pump(reader, writer, stalls):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if stalls:
                    await flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def serve(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pump(creader, uwriter, True), pump(ureader, cwriter, False))

    server = await asyncio.start_server(serve, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
