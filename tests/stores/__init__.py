import asyncio


def run(sink, method: str, *args):
    """Call one sink method in a fresh event loop and close the sink afterwards."""

    async def go():
        try:
            return await getattr(sink, method)(*args)
        finally:
            await sink.close()

    return asyncio.run(go())
