// The DataSource behind the pool: every getConnection() makes a new StubConnection, as a driver would open a
// new session. HikariCP calls it only to fill the pool (C times before the run), never on the borrow path.
//
// Thread-safety: safe; HikariCP's connection-adder thread calls it, nothing is shared.
package berth.peers.hikaricp;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.logging.Logger;
import javax.sql.DataSource;

final class StubDataSource implements DataSource {
    private volatile int loginTimeoutSeconds;
    private volatile PrintWriter logWriter;

    @Override public Connection getConnection() { return new StubConnection(); }
    @Override public Connection getConnection(String user, String password) { return new StubConnection(); }

    @Override public PrintWriter getLogWriter() { return logWriter; }
    @Override public void setLogWriter(PrintWriter out) { logWriter = out; }
    @Override public void setLoginTimeout(int seconds) { loginTimeoutSeconds = seconds; }
    @Override public int getLoginTimeout() { return loginTimeoutSeconds; }
    @Override public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException("StubDataSource has no java.util.logging parent");
    }

    @Override public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) return iface.cast(this);
        throw new SQLException("StubDataSource does not wrap " + iface.getName());
    }
    @Override public boolean isWrapperFor(Class<?> iface) { return iface.isInstance(this); }
}
