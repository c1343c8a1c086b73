package sledagent.hypervisor.server;

import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ListenAddressTest
{
    @Test
    void shouldParseIpv4AndPort()
    {
        final InetSocketAddress address = ListenAddress.parse("127.0.0.1:12400");

        assertThat(address.getAddress().getHostAddress()).isEqualTo("127.0.0.1");
        assertThat(address.getPort()).isEqualTo(12400);
        assertThat(ListenAddress.format(address)).isEqualTo("127.0.0.1:12400");
    }

    @Test
    void shouldParseBracketedIpv6AndFormatItBracketed()
    {
        final InetSocketAddress address = ListenAddress.parse("[::1]:0");

        assertThat(address.getPort()).isZero();
        assertThat(ListenAddress.format(address)).isEqualTo("[0:0:0:0:0:0:0:1]:0");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]", "[::1]80", "[]:80",
        "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8o", "127.0.0.1:123456"})
    void shouldRefuseWhatIsNotHostColonPort(final String text)
    {
        assertThatThrownBy(() -> ListenAddress.parse(text)).isInstanceOf(IllegalArgumentException.class);
    }
}
